"""Node and edge kinds of the lineage graph, and which edges may join which nodes.

Lineage edges point the way data flows, so *downstream* means following
outgoing lineage edges. Structural edges (version-of, has-field, instance-of,
...) describe containment and identity; a lineage traversal never follows them
unless asked to.
"""

from __future__ import annotations

from enum import StrEnum


class NodeKind(StrEnum):
    DATASET = "dataset"
    DATASET_VERSION = "dataset_version"
    FIELD = "field"
    JOB = "job"
    RUN = "run"
    EXPERIMENT = "experiment"
    FEATURE = "feature"
    MODEL = "model"
    MODEL_VERSION = "model_version"
    EVALUATION = "evaluation"
    DEPLOYMENT = "deployment"
    GATE_DECISION = "gate_decision"


class EdgeKind(StrEnum):
    # --- lineage: data flows from src to dst ---------------------------------
    CONSUMED = "consumed"  # Dataset -> Run/Job (an input), ModelVersion -> Run/Job (inference)
    PRODUCED = "produced"  # Run/Job -> Dataset (an output)
    TRAINED = "trained"  # Run/Job -> ModelVersion
    DERIVES = "derives"  # Field -> Field (column lineage)
    FEEDS = "feeds"  # Field/Dataset -> Feature
    INPUT_TO = "input_to"  # Feature -> ModelVersion
    SERVES = "serves"  # ModelVersion -> Deployment
    EVALUATED = "evaluated"  # Dataset/DatasetVersion/ModelVersion -> Evaluation
    # --- structural: never followed by lineage unless asked ------------------
    HAS_FIELD = "has_field"  # Dataset -> Field
    VERSION_OF = "version_of"  # DatasetVersion -> Dataset, ModelVersion -> Model
    INSTANCE_OF = "instance_of"  # Run -> Job
    IN_EXPERIMENT = "in_experiment"  # Run -> Experiment
    CHILD_OF = "child_of"  # Run -> parent Run
    READ_VERSION = "read_version"  # Run -> DatasetVersion it read
    WROTE_VERSION = "wrote_version"  # Run -> DatasetVersion it wrote
    LINKED_RUN = "linked_run"  # MLflow Run -> OpenLineage Run of the same execution
    ALIAS_OF = "alias_of"  # Dataset -> Dataset it is a symlink of
    DECIDED = "decided"  # GateDecision -> ModelVersion

    @property
    def is_lineage(self) -> bool:
        return self in LINEAGE_EDGE_KINDS


LINEAGE_EDGE_KINDS: frozenset[EdgeKind] = frozenset(
    {
        EdgeKind.CONSUMED,
        EdgeKind.PRODUCED,
        EdgeKind.TRAINED,
        EdgeKind.DERIVES,
        EdgeKind.FEEDS,
        EdgeKind.INPUT_TO,
        EdgeKind.SERVES,
        EdgeKind.EVALUATED,
    }
)
STRUCTURAL_EDGE_KINDS: frozenset[EdgeKind] = frozenset(EdgeKind) - LINEAGE_EDGE_KINDS

_N = NodeKind
#: Which (source kind, target kind) pairs each edge kind may join.
EDGE_RULES: dict[EdgeKind, frozenset[tuple[NodeKind, NodeKind]]] = {
    EdgeKind.CONSUMED: frozenset(
        {
            (_N.DATASET, _N.RUN),
            (_N.DATASET, _N.JOB),
            (_N.MODEL_VERSION, _N.RUN),
            (_N.MODEL_VERSION, _N.JOB),
        }
    ),
    EdgeKind.PRODUCED: frozenset({(_N.RUN, _N.DATASET), (_N.JOB, _N.DATASET)}),
    EdgeKind.TRAINED: frozenset({(_N.RUN, _N.MODEL_VERSION), (_N.JOB, _N.MODEL_VERSION)}),
    EdgeKind.DERIVES: frozenset({(_N.FIELD, _N.FIELD)}),
    EdgeKind.FEEDS: frozenset({(_N.FIELD, _N.FEATURE), (_N.DATASET, _N.FEATURE)}),
    EdgeKind.INPUT_TO: frozenset({(_N.FEATURE, _N.MODEL_VERSION)}),
    EdgeKind.SERVES: frozenset({(_N.MODEL_VERSION, _N.DEPLOYMENT)}),
    EdgeKind.EVALUATED: frozenset(
        {
            (_N.DATASET, _N.EVALUATION),
            (_N.DATASET_VERSION, _N.EVALUATION),
            (_N.MODEL_VERSION, _N.EVALUATION),
        }
    ),
    EdgeKind.HAS_FIELD: frozenset({(_N.DATASET, _N.FIELD)}),
    EdgeKind.VERSION_OF: frozenset(
        {(_N.DATASET_VERSION, _N.DATASET), (_N.MODEL_VERSION, _N.MODEL)}
    ),
    EdgeKind.INSTANCE_OF: frozenset({(_N.RUN, _N.JOB)}),
    EdgeKind.IN_EXPERIMENT: frozenset({(_N.RUN, _N.EXPERIMENT)}),
    EdgeKind.CHILD_OF: frozenset({(_N.RUN, _N.RUN)}),
    EdgeKind.READ_VERSION: frozenset({(_N.RUN, _N.DATASET_VERSION)}),
    EdgeKind.WROTE_VERSION: frozenset({(_N.RUN, _N.DATASET_VERSION)}),
    EdgeKind.LINKED_RUN: frozenset({(_N.RUN, _N.RUN)}),
    EdgeKind.ALIAS_OF: frozenset({(_N.DATASET, _N.DATASET)}),
    EdgeKind.DECIDED: frozenset({(_N.GATE_DECISION, _N.MODEL_VERSION)}),
}
assert set(EDGE_RULES) == set(EdgeKind), "every edge kind needs a rule"
