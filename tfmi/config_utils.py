"""Helpers for experiment configs (``configs/*.py``): the ``:ARG`` string and the fields
every config shares."""

import ml_collections

__all__ = ["parse_arg", "base_config", "load_config"]


def base_config(experiment, seed=0):
    """A ConfigDict with the fields every experiment has: its name, the seed and where
    it runs.

    strategy     default | mirrored | multiworker | tpu (see tfmi.distribute)
    tpu          TPU name or address for strategy=tpu ("" = the local one)
    cpu_devices  N > 1 splits the CPU into N logical devices, so that "mirrored" runs N
                 replicas on a machine without a GPU (0 = leave the CPU whole)
    """
    config = ml_collections.ConfigDict()
    config.experiment = experiment
    config.seed = seed
    config.strategy = "default"
    config.tpu = ""
    config.cpu_devices = 0
    return config


def parse_arg(arg, **defaults):
    """Parses a config argument such as ``"nwj,runlocal"`` or ``"bound=nwj,seed=3"``.

    Each comma-separated item is ``key=value`` or a bare word. A bare word that is a
    boolean default's name sets it to True (``runlocal``); any other bare word sets the
    first default, the config's main choice (``nwj`` -> ``bound=nwj``). Values are
    converted to the type of their default. Unknown keys raise ValueError.
    """
    result = dict(defaults)
    if not arg:
        return result
    main_key = next(iter(defaults), None)
    for item in arg.split(","):
        item = item.strip()
        if not item:
            continue
        if "=" in item:
            key, value = item.split("=", 1)
        elif isinstance(defaults.get(item), bool):
            key, value = item, "true"
        else:
            key, value = main_key, item
        if key not in defaults:
            raise ValueError(f"Unknown config argument {key!r}; known: {sorted(defaults)}.")
        result[key] = _convert(value, defaults[key], key)
    return result


def _convert(value, default, key):
    if isinstance(default, bool):
        if value.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"Config argument {key!r} takes true or false, got {value!r}.")
        return value.lower() in ("true", "1")
    if default is None or isinstance(default, str):
        return value
    try:
        return type(default)(value)
    except ValueError:
        raise ValueError(
            f"Config argument {key!r} takes a {type(default).__name__}, got {value!r}."
        ) from None


def load_config(spec):
    """The ConfigDict of ``"configs/NAME.py[:ARG]"``, as ``--config`` would build it.

    For tools and notebooks that build a config without the trainer's flags.
    """
    import importlib.util
    import os

    path, _, arg = str(spec).partition(":")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no config file {path!r}; pass configs/NAME.py[:ARG].")
    module_spec = importlib.util.spec_from_file_location(
        "_tfmi_config_" + os.path.splitext(os.path.basename(path))[0], path
    )
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.get_config(arg or None)
