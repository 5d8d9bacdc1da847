/*
 * The warehouse views of docs/receive.md ("The warehouse"), in the SQL that SQLite and
 * PostgreSQL read alike (booleans tested by truth), created by each one's first migration.
 * ClickHouse defines its own (src/store/clickhouse.c): it lacks window functions.
 */
#ifndef FT_STORE_VIEWS_H
#define FT_STORE_VIEWS_H

#define FT_STORE_VIEWS \
    "CREATE VIEW ft_evaluations AS" \
    "  SELECT d.source, d.lsn, d.received_at, d.identity, d.environment_id, d.delivery_id," \
    "         f.feature_id, f.feature_name, f.feature_type, f.enabled, f.value_type, f.value," \
    "         f.percentage_allocation, f.identity_override, f.feature_segment," \
    "         f.feature_state_id" \
    "  FROM ft_delivery d JOIN ft_flag_set f ON f.set_id = d.flags_set;" \
    "CREATE VIEW ft_exposures AS" \
    "  SELECT identity, feature_id, feature_name, enabled, value_type, value," \
    "         MIN(received_at) AS first_seen, MAX(received_at) AS last_seen," \
    "         COUNT(*) AS times_seen" \
    "  FROM ft_evaluations" \
    "  GROUP BY identity, feature_id, feature_name, enabled, value_type, value;" \
    "CREATE VIEW ft_identity_latest AS" \
    "  SELECT source, lsn, received_at, environment_id, identity, flags_set, traits_set," \
    "         segments_set FROM (" \
    "    SELECT d.*, ROW_NUMBER() OVER (PARTITION BY identity" \
    "                                   ORDER BY received_at DESC, source DESC, lsn DESC) AS rn" \
    "    FROM ft_delivery d) latest WHERE rn = 1;" \
    "CREATE VIEW ft_identity_traits AS" \
    "  SELECT l.identity, t.trait_key, t.trait_id, t.value_type, t.value, t.transient," \
    "         l.received_at AS as_of" \
    "  FROM ft_identity_latest l JOIN ft_trait_set t ON t.set_id = l.traits_set;" \
    "CREATE VIEW ft_segment_members AS" \
    "  SELECT l.identity, s.segment_id, s.segment_name, l.received_at AS as_of" \
    "  FROM ft_identity_latest l JOIN ft_segment_set s ON s.set_id = l.segments_set" \
    "  WHERE s.member;"

#endif
