"""Generic helpers of the experiment configs (``configs/*.py``): the fields every config
shares, the ``:ARG`` string, the ``runlocal`` schedule, loading a config by path and
importing a paper's shared ``configs/<paper>/common.py``.

Hyper-parameters live in the configs: a config file shows its experiment's values, or
those of its paper's ``common.py``.
"""

import importlib.util
import inspect
import os
from collections.abc import Mapping

import ml_collections

from tfmi.errors import InputError

__all__ = [
    "apply_runlocal",
    "as_dict",
    "base_config",
    "field_names",
    "import_beside",
    "load_config",
    "parse_arg",
    "refuse_unknown_fields",
]


def base_config(experiment, seed=0):
    """A ConfigDict with the fields every experiment has: its name, the seed and where
    it runs.

    strategy     default | mirrored | multiworker | tpu (see tfmi.distribute)
    tpu          TPU name or address for strategy=tpu ("" = the local one)
    cpu_devices  N > 1 splits the CPU into N logical devices, so that "mirrored" runs N
                 replicas on a machine without a GPU (0 = leave the CPU whole)
    start_timeout  seconds a "multiworker" start-up waits for every worker that TF_CONFIG
                 lists before it fails naming those that did not start
    """
    config = ml_collections.ConfigDict()
    config.experiment = experiment
    config.seed = seed
    config.strategy = "default"
    config.tpu = ""
    config.cpu_devices = 0
    config.start_timeout = 300.0
    return config


def as_dict(section):
    """A config block (a dict or an ml_collections.ConfigDict) as a plain dict; None for
    anything else (a name, a built object, None)."""
    if isinstance(section, ml_collections.ConfigDict):
        return section.to_dict()
    return dict(section) if isinstance(section, Mapping) else None


def field_names(function):
    """The arguments ``function`` takes by name: the config fields of a builder (a class's
    ``__init__`` lists ``self`` first)."""
    parameters = inspect.signature(function).parameters.values()
    return [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def refuse_unknown_fields(fields, accepted, section):
    """Raises InputError naming the first of ``fields`` not in ``accepted`` and the
    accepted ones: a typo in a config section is refused, never dropped."""
    unknown = sorted(set(fields) - set(accepted))
    if unknown:
        raise InputError(f"{section} has no field {unknown[0]!r}; its fields are {list(accepted)}.")


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


def load_config(spec, overrides=None):
    """The ConfigDict of ``"configs/NAME.py[:ARG]"``, as ``--config`` would build it,
    with ``overrides`` ({"optimizer.learning_rate": 1e-3, ...}) applied like
    ``--config.optimizer.learning_rate=1e-3``.

    For tools, tests and notebooks that build a config without the trainer's flags.
    """
    path, _, arg = str(spec).partition(":")
    if not os.path.isfile(path):
        raise InputError(f"no config file {path!r}; pass configs/NAME.py[:ARG].")
    config = _import_file(path).get_config(arg or None)
    for key, value in (overrides or {}).items():
        *parents, leaf = key.split(".")
        node = config
        for parent in parents:
            node = node.get(parent) if isinstance(node, ml_collections.ConfigDict) else None
        if not isinstance(node, ml_collections.ConfigDict) or leaf not in node:
            raise InputError(f"the config {spec!r} has no field {key!r}.")
        node[leaf] = value
    return config


def apply_runlocal(config, steps=6, batch_size=16):
    """Shrinks a config's schedule to a seconds-long CPU smoke run (in place)."""
    config.batch_size = batch_size
    config.total_steps = steps
    config.steps_per_loop = steps // 2
    config.log_every = steps // 2
    config.checkpoint_every = steps
    config.histogram_every = steps
    config.keep_checkpoints = 1
    return config


def import_beside(config_file, relative_path):
    """The module of the file ``relative_path`` beside ``config_file`` (a config's
    ``__file__``), e.g. ``import_beside(__file__, "tschannen2020/common.py")``.

    Config files are loaded by path, not imported as a package (``--config`` runs them
    with ``SourceFileLoader``, ``load_config`` likewise), so a plain ``import`` of a
    paper's ``common.py`` would depend on the working directory and on ``sys.path``;
    loading it by its path beside the config works however the config was loaded.
    """
    path = os.path.join(os.path.dirname(os.path.abspath(config_file)), relative_path)
    if not os.path.isfile(path):
        raise InputError(f"no file {path!r} beside the config {config_file!r}.")
    return _import_file(path)


def _import_file(path):
    """Runs the Python file ``path`` as a fresh module (not added to sys.modules)."""
    name = "_tfmi_config_" + os.path.splitext(os.path.basename(path))[0]
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module
