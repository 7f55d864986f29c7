//! Integration tests of archsim-serving.
