//! LLM serving metrics on a GPU (filled in below).
