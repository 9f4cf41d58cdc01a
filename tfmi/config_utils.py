"""Helpers for experiment configs (``configs/*.py``): the ``:ARG`` string and ``runlocal``."""

__all__ = ["parse_arg"]


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
