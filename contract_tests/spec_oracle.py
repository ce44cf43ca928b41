"""An oracle for every endpoint of BFL's OpenAPI: pydantic v2 models generated from the vendored spec by
datamodel-code-generator (independently of the fake's own schema compiler), mounted in real FastAPI.
Generated once per session into a temporary folder."""

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from mock_server.core.schemas import spec_path


def generated_models() -> Any:
    out = Path(tempfile.mkdtemp(prefix="bfl-oracle-")) / "bfl_spec_models.py"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "datamodel_code_generator",
            "--input",
            str(spec_path()),
            "--input-file-type",
            "openapi",
            "--output-model-type",
            "pydantic_v2.BaseModel",
            "--strict-nullable",  # a field that is not nullable in the spec does not accept null
            "--formatters",
            "black",
            "--output",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    # datamodel-code-generator maps ``format: uri`` to AnyUrl and drops its length; the spec's
    # ``{format: uri, minLength: 1, maxLength: 2083}`` is what pydantic emits for HttpUrl, BFL's type.
    out.write_text(out.read_text().replace("AnyUrl", "HttpUrl"))
    spec = importlib.util.spec_from_file_location("bfl_spec_models", out)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bfl_spec_models"] = module
    spec.loader.exec_module(module)
    return module


def spec_oracle_app(routes: dict[str, str]) -> Any:
    """FastAPI serving ``routes`` (path -> component name) with the generated models, as BFL's stack would."""
    from fastapi import Depends, FastAPI
    from fastapi.security import APIKeyHeader

    models = generated_models()
    app = FastAPI()
    key_header = APIKeyHeader(name="x-key")

    def route(model: Any) -> Any:
        def submit(body: Any, key: str = Depends(key_header)) -> dict[str, Any]:
            url = getattr(body, "webhook_url", None)
            if url is not None:
                return {"id": "oracle", "status": "Pending", "webhook_url": str(url)}
            return {"id": "oracle", "polling_url": "oracle"}

        submit.__annotations__["body"] = model
        return submit

    for path, component in routes.items():
        app.post(path)(route(getattr(models, component)))
    return app
