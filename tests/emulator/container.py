"""Runs one input of a deployed function, as a Modal container would.

The emulator starts `python container.py REQUEST.json RESULT.json` in a fresh process whose
environment holds only the image's ENV and the function's secrets (plus PATH/HOME/LANG), with the
app's uploaded files as the working directory. It imports the module afresh, calls the function
with the deserialized arguments and writes the serialized result (or the pickled exception) to
RESULT.json. What the function prints goes to this process's stdout/stderr: the app's logs.
"""

from __future__ import annotations

import base64
import importlib
import json
import sys
import traceback


def main() -> int:
    request_path, result_path = sys.argv[1], sys.argv[2]
    with open(request_path) as f:
        request = json.load(f)
    sys.path.insert(0, request["workdir"])

    from modal._serialization import deserialize_data_format, serialize, serialize_data_format

    def write(result: dict) -> None:
        with open(result_path, "w") as f:
            json.dump(result, f)

    try:
        args, kwargs = deserialize_data_format(
            base64.b64decode(request["args_b64"]), request["input_format"], None
        )
        module = importlib.import_module(request["module"])
        function = getattr(module, request["function"])
        local = getattr(function, "local", None)
        value = local(*args, **kwargs) if local is not None else function(*args, **kwargs)
        data = serialize_data_format(value, request["output_format"])
        write({"status": "success", "data_b64": base64.b64encode(data).decode()})
        return 0
    except BaseException as exc:  # noqa: BLE001 - every failure of user code is reported to the caller
        formatted = traceback.format_exc()
        sys.stderr.write(formatted)
        try:
            data_b64 = base64.b64encode(serialize(exc)).decode()
        except Exception:  # noqa: BLE001 - an unpicklable exception is still reported by its text
            data_b64 = ""
        write(
            {
                "status": "failure",
                "exception": f"{type(exc).__name__}({', '.join(repr(a) for a in exc.args)})",
                "traceback": formatted,
                "data_b64": data_b64,
            }
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
