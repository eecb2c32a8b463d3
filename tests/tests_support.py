"""Cell functions for the sweep tests (importable by worker processes)."""

import math
import time


def square(config):
    if config.get("fail"):
        raise RuntimeError(f"cell {config['i']} failed on purpose")
    time.sleep(config.get("sleep", 0.0))
    return {"i": config["i"], "square": config["i"] ** 2, "root": math.sqrt(config["i"])}
