"""The report API: trigger an on-demand report as a Dagster run, then poll for it and download it.

``app.py`` builds the FastAPI app (``create_app``), ``launcher.py`` starts runs through the Dagster
webserver, ``status.py`` decides a report's status from ``report_runs`` and the Dagster run,
``models.py`` holds the response shapes the OpenAPI document publishes, ``server.py`` runs it.
Nothing is imported here, so importing one module does not build the app.
"""
