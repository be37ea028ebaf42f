"""Electricity anomalies: the meters that give hidden digging away.

Hidden tunnels need hoists, pumps, fans and lights, and that shows on the
meter. The meter table is read by :mod:`riskmap.load.sources.meters`; this
package scores every user with reasons a person can check (:mod:`.score`,
:mod:`.reasons`), weighs the scores by what else is known — the user's place
on the static factors' map, the shape of the series, cases closed nearby
(:mod:`.evidence`) —, places the users on the map (:mod:`.locate`), makes the
anomaly layer a factor can read as ``power:anomalies`` (:mod:`.anomalies`) and
the 供电台账 table for the power company (:mod:`.ledger`); the files are written
by :mod:`riskmap.export.power`.

Importing this package registers the ``power`` reader in
:data:`riskmap.load.sources.DERIVED`, so that :func:`riskmap.load.inputs.load_inputs`
can read ``power:anomalies`` without importing upward.
"""

from riskmap.load.sources import DERIVED
from riskmap.load.sources.meters import (
    CATEGORY_ALIASES,
    PERSONAL,
    PowerTable,
    normalize,
    parse_kwh,
    parse_month_labels,
    read_expansions,
    read_power_table,
)
from riskmap.models.power.anomalies import (
    ANOMALY_SOURCE,
    LAYER_COLUMNS,
    READER,
    PowerResult,
    anomaly_layer,
    anomaly_users,
    check_power,
    is_anomaly_source,
    read_anomaly_source,
    read_derived,
)
from riskmap.models.power.config import DEFAULT_MIN_SCORE, DEFAULT_TOP, PowerConfig, power_config
from riskmap.models.power.ledger import LEDGER_COLUMNS, ledger_frame
from riskmap.models.power.locate import (
    AMBIGUOUS,
    SPREAD_POINTS,
    UNPLACED,
    ambiguous_villages,
    locate,
    spread_points,
)
from riskmap.models.power.reasons import SEASON_TEXT
from riskmap.models.power.score import (
    LEVEL_MONTHS,
    LOG_OFFSET,
    MAGNITUDE_KWH,
    MIN_SCALE,
    PEER_MIN,
    SEASONS,
    naive_jump,
    peer_groups,
    reconcile_estimates,
    robust_z,
    score_users,
    table_until,
)

DERIVED["power"] = READER  # factor sources power:anomalies

__all__ = [
    "AMBIGUOUS",
    "ANOMALY_SOURCE",
    "CATEGORY_ALIASES",
    "DEFAULT_MIN_SCORE",
    "DEFAULT_TOP",
    "LAYER_COLUMNS",
    "LEDGER_COLUMNS",
    "LEVEL_MONTHS",
    "LOG_OFFSET",
    "MAGNITUDE_KWH",
    "MIN_SCALE",
    "PEER_MIN",
    "PERSONAL",
    "READER",
    "SEASONS",
    "SEASON_TEXT",
    "SPREAD_POINTS",
    "UNPLACED",
    "PowerConfig",
    "PowerResult",
    "PowerTable",
    "ambiguous_villages",
    "anomaly_layer",
    "anomaly_users",
    "check_power",
    "is_anomaly_source",
    "ledger_frame",
    "locate",
    "naive_jump",
    "normalize",
    "parse_kwh",
    "parse_month_labels",
    "peer_groups",
    "power_config",
    "read_anomaly_source",
    "read_derived",
    "read_expansions",
    "read_power_table",
    "reconcile_estimates",
    "robust_z",
    "score_users",
    "spread_points",
    "table_until",
]
