"""Ctrl-C during a long Rust call: the call stops and raises KeyboardInterrupt (issue 26).

Each test runs the call in a child Python process, waits until the call has started, sends the
child SIGINT (what Ctrl-C sends) and expects the child to catch KeyboardInterrupt from the call
within a few seconds, long before the call would have finished.
"""

import signal
import subprocess
import sys
import textwrap
import time

import pytest

import archsim
from archsim._archsim import DseEnvCore

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

# A serve of five million requests: minutes of simulation (and ~1 GB) if nothing stops it.
SERVE = """
config = {
    "workload": {"llm": {"model": "llama2_7b"}},
    "serving": {
        "traffic": {"rate": 2000.0, "requests": 5000000, "seed": 0,
                    "prompt_tokens": {"fixed": 64}, "output_tokens": {"fixed": 8}},
        "pools": [{"accelerator": {"kind": "roofline", "peak_tflops": {"bf16": 989.0},
                                   "mem_bw_gb_s": 3350.0, "mem_gb": 80.0}, "count": 64}],
        "scheduler": {"max_batch": 64, "max_batch_tokens": 4096},
    },
}
call = lambda: archsim.serve(config)
"""

# A search of a million evaluations.
SEARCH = """
config = {
    "workload": {"gemm": {"m": 256, "n": 256, "k": 256}},
    "accelerator": {"kind": "systolic", "rows": 32, "cols": 32, "dataflow": "ws"},
    "search": {"agent": {"kind": "random"}, "budget": 1000000, "seed": 0,
               "space": {"accelerator.rows": {"int": [4, 256]},
                         "accelerator.cols": {"int": [4, 256]},
                         "accelerator.dataflow": {"choice": ["os", "ws", "is"]}},
               "objectives": [{"metric": "latency_s"}]},
}
call = lambda: archsim.search(config)
"""

# A batch of a million points.
BATCH = """
config = {
    "workload": {"gemm": {"m": 256, "n": 256, "k": 256}},
    "accelerator": {"kind": "systolic", "rows": 32, "cols": 32, "dataflow": "ws"},
    "search": {"agent": {"kind": "random"}, "budget": 1, "seed": 0,
               "space": {"accelerator.rows": {"int": [4, 1003]},
                         "accelerator.cols": {"int": [4, 1003]}},
               "objectives": [{"metric": "latency_s"}]},
}
points = [[i % 1000, (i // 1000) % 1000] for i in range(1000000)]
call = lambda: archsim.evaluate_batch(config, points)
"""

# The Rust step loop of a gym environment, a billion steps.
STEPS = """
from archsim._archsim import DseEnvCore
core = DseEnvCore.preset("SystolicGemm")
core.reset(0)
action = [0] * len(core.nvec())
call = lambda: core.time_steps([action], 10**9)
"""

CHILD = """
import sys, archsim
{setup}
print("started", flush=True)
try:
    call()
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(3)
print("finished", flush=True)
"""


@pytest.mark.parametrize("setup", [SERVE, SEARCH, BATCH, STEPS], ids=["serve", "search", "evaluate_batch", "time_steps"])
def test_ctrl_c_stops_a_long_call_with_keyboard_interrupt(setup):
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(setup=textwrap.dedent(setup))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "started", child.stderr.read()
        time.sleep(1.5)  # well into the call
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        child.kill()
    assert child.returncode == 3, (out, err)
    assert "interrupted" in out and "finished" not in out
    assert took < 10, f"took {took:.1f} s to stop"


def test_time_steps_is_bounded():
    core = DseEnvCore.preset("SystolicGemm")
    core.reset(0)
    action = [0] * len(core.nvec())
    with pytest.raises(ValueError, match="limit"):
        core.time_steps([action], 2**62)
    assert core.time_steps([action], 10) > 0


def test_extreme_values_are_refused_naming_the_key():
    cfg = {"workload": {"gemm": {"m": 64, "n": 64, "k": 64}},
           "accelerator": {"kind": "systolic", "rows": 8, "cols": 8, "dataflow": "os",
                           "freq_mhz": 1e308}}
    with pytest.raises(archsim.ConfigError, match=r"accelerator\.freq_mhz: must be at most 100000"):
        archsim.simulate(cfg)
    serve = {
        "workload": {"llm": {"model": "llama2_7b"}},
        "serving": {"traffic": {"rate": 5.0, "requests": 10**12,
                                "prompt_tokens": {"fixed": 64}, "output_tokens": {"fixed": 8}},
                    "pools": [{"accelerator": {"kind": "gpu", "preset": "h100_sxm"}}]},
    }
    with pytest.raises(archsim.ConfigError, match=r"serving\.traffic\.requests: must be at most"):
        archsim.serve(serve)
