"""The triage HTTP service: FastAPI app, routers by domain, the reviewer page (api/static)."""

import os
import sys

if os.environ.get("TRIAGE_LEAN_IMPORTS") == "1" and "sklearn" not in sys.modules:
    # `triage serve` sets this: scikit-learn imports pandas (and with it pyarrow) when installed,
    # only to support DataFrame inputs, which the service never passes. Marking them absent (an
    # ImportError that scikit-learn handles) saves ~60 MB and ~1 s of start-up per worker. MLflow,
    # which does need pandas, is never imported by the service.
    sys.modules.setdefault("pandas", None)  # type: ignore[arg-type]
    sys.modules.setdefault("pyarrow", None)  # type: ignore[arg-type]
