"""MLflow harvesting: experiments, runs, datasets, models, versions, aliases and deployments.

The flow (DESIGN.md): the harvester (``harvester.py``) reads a tracking server
through ``MlflowClient`` (``client.py``) and submits a self-contained JSON
*snapshot* of every changed object (``snapshots.py``) to the event log under
source ``mlflow``; the mapper (``mapping.py``) turns each snapshot into a
ChangeSet at projection time. Webhooks (``webhooks.py``) only say what
changed; the receiver reads it back from MLflow and logs it the same way.

Modules: ``sources.py`` (MLflow dataset sources in OpenLineage naming),
``deployments.py`` (which alias, tag or stage means "serves where"),
``state.py`` (the cursor and what the harvester saw last).

This package's ``__init__`` imports nothing, so Settings can import the
deployment rules without loading MLflow.
"""
