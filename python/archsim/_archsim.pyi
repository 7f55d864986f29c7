"""Native module of archsim (private: use the names re-exported by ``archsim``)."""

__version__: str

class ConfigError(ValueError):
    """Invalid config, workload or design point."""

class SimulationError(RuntimeError):
    """The simulation failed."""

def simulate_text(text: str, source: str = "<config>", base_dir: str = ".", overrides: list[str] = ...) -> str:
    """Simulate a YAML/JSON config and return the report as a JSON string."""

def models() -> list[str]:
    """Names of the zoo's models."""
