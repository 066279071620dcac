"""The committed Modal module that deploys one processor.

`modalplan apply` runs, in the module's folder:

    modal deploy -m modal_app --env E --name APP --tag FINGERPRINT

with PROCESSOR_REF, IMAGE_REF, TOOL_SECRETS (comma list), MODAL_ENVIRONMENT and MODAL_APP_NAME exported.
In the container the module is imported again, where only the image's ENV is set: the image carries
PROCESSOR_REF, MODAL_APP_NAME and TOOL_SECRETS so both imports agree. The registry pull secret
(REGISTRY_AUTH) is attached to the image, never to the functions.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

import modal

MAX_APP_NAME_LENGTH = 64
_HEAD_LENGTH = 55
_VERSION_RE = re.compile(r"^[vV]?([0-9]+)$")
PRIVATE_REGISTRIES = ("ghcr.io/",)


def _sanitize(part: str) -> str:
    lowered = part.lower()
    dashed = re.sub(r"[^a-z0-9-]+", "-", lowered)
    return re.sub(r"-+", "-", dashed).strip("-")


def modal_app_name_from_ref(ref: str) -> str:
    """`ns/name@ver` -> `ns-name-v<ver>`, within Modal's 64-character limit.

    Raises ValueError when the ref does not follow the grammar.
    """
    if ref.count("@") != 1 or any(ch.isspace() for ch in ref):
        raise ValueError(f"invalid processor ref {ref!r}: expected ns/name@version")
    path, version = ref.split("@")
    if path.count("/") != 1:
        raise ValueError(f"invalid processor ref {ref!r}: expected ns/name@version")
    namespace, name = path.split("/")
    match = _VERSION_RE.fullmatch(version)
    if match is None:
        raise ValueError(f"invalid processor ref {ref!r}: version must be digits with an optional leading v")
    namespace, name = _sanitize(namespace), _sanitize(name)
    if not namespace or not name:
        raise ValueError(f"invalid processor ref {ref!r}: empty namespace or name")
    full = f"{namespace}-{name}-v{int(match.group(1))}"
    if len(full) <= MAX_APP_NAME_LENGTH:
        return full
    head = full[:_HEAD_LENGTH].rstrip("-")
    return f"{head}-{hashlib.sha256(full.encode()).hexdigest()[:8]}"


PROCESSOR_REF = os.environ.get("PROCESSOR_REF", "")
IMAGE_REF = os.environ.get("IMAGE_REF", "")
TOOL_SECRETS = [name.strip() for name in os.environ.get("TOOL_SECRETS", "").split(",") if name.strip()]
APP_NAME = os.environ.get("MODAL_APP_NAME") or (modal_app_name_from_ref(PROCESSOR_REF) if PROCESSOR_REF else "")


def _build_image() -> modal.Image | None:
    """The processor's image, carrying what the container needs to import this module again."""
    if not IMAGE_REF:  # inside the container: the image already exists
        return None
    pull_secret = None
    if IMAGE_REF.startswith(PRIVATE_REGISTRIES):
        pull_secret = modal.Secret.from_name("REGISTRY_AUTH")
    image = modal.Image.from_registry(IMAGE_REF, secret=pull_secret)
    return image.env(
        {
            "PROCESSOR_REF": PROCESSOR_REF,
            "MODAL_APP_NAME": APP_NAME,
            "TOOL_SECRETS": ",".join(TOOL_SECRETS),
        }
    )


app = modal.App(APP_NAME or "processor")
image = _build_image()
secrets = [modal.Secret.from_name(name) for name in TOOL_SECRETS]


def _mock_outputs(payload: dict) -> dict:
    params = payload.get("params", {}) if isinstance(payload, dict) else {}
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return {
        "text": f"mock output of {PROCESSOR_REF}",
        "params_sha256": hashlib.sha256(canonical.encode()).hexdigest(),
    }


def _envelope(mode: str, **fields) -> dict:
    return {"schema": "v1", "mode": mode, "processor": PROCESSOR_REF, **fields}


def _process(payload: dict, mode: str) -> dict:
    if mode == "mock":
        return _envelope("mock", status="ok", outputs=_mock_outputs(payload))
    if mode != "real":
        return _envelope(mode, status="error", error={"code": "ERR_INVALID_MODE", "message": f"unknown mode {mode!r}"})
    missing = [name for name in TOOL_SECRETS if not os.environ.get(name)]
    if missing:
        return _envelope(
            "real",
            status="error",
            error={"code": "ERR_MISSING_SECRET", "message": f"missing secret env vars: {', '.join(missing)}"},
        )
    # The provider call itself is outside this module's contract; report what real mode would use.
    return _envelope("real", status="ok", outputs={"secrets_present": sorted(TOOL_SECRETS)})


@app.function(image=image, secrets=secrets)
def run(payload: dict) -> dict:
    mode = str(payload.get("mode", "mock")) if isinstance(payload, dict) else "mock"
    print(f"run processor={PROCESSOR_REF} mode={mode}")
    return _process(payload, mode)


@app.function(image=image, secrets=secrets)
def smoke(payload: dict) -> dict:
    print(f"smoke processor={PROCESSOR_REF} mode=mock")
    return _process(payload, "mock")
