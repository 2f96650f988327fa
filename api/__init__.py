"""The triage HTTP service: FastAPI app, routers by domain, the reviewer page (api/static)."""
