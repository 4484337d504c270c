import PgScoreJSON
import PostgresNIO

/// What each dashboard page shows, read in one statement per page from the registry's
/// views and tables (JSON built by PostgreSQL). Every list is bounded (the latest rows,
/// a time window over the partitioned prediction log) so a page costs the same with
/// 100 versions and a million predictions as with a few.
enum DashboardQueries {
    /// Time series points per page (evaluations, drift checks) and table rows (runs, deployments, actions).
    static let seriesLimit = 200
    static let listLimit = 50
    /// PSI points per feature in the drift-over-time chart
    static let driftPointsPerFeature = 30

    static func projects(visibleTo projects: [String]?) -> PostgresQuery {
        """
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                 'project', o.project, 'task', o.task, 'deploy_policy', o.deploy_policy,
                 'deployed_version', o.deployed_version, 'algorithm', o.deployed_algorithm,
                 'key_metric', o.key_metric, 'score', o.deployed_score, 'versions', o.versions,
                 'last_trained', o.last_trained,
                 'live', (SELECT jsonb_build_object('version', e.version, 'metric', e.metric, 'value', e.value, 'n', e.n,
                                                    'window_end', e.window_end, 'degraded', e.degraded)
                            FROM ml.evaluations e WHERE e.project = o.project ORDER BY e.window_end DESC, e.id DESC LIMIT 1),
                 'spark', (SELECT jsonb_agg(s.value ORDER BY s.window_end, s.id)
                             FROM (SELECT e.value, e.window_end, e.id FROM ml.evaluations e
                                    WHERE e.project = o.project AND e.value IS NOT NULL
                                    ORDER BY e.window_end DESC, e.id DESC LIMIT 30) s),
                 'predictions_hour', (SELECT count(*) FROM ml.predictions pr
                                       WHERE pr.project = o.project AND pr.created_at > now() - interval '1 hour'),
                 'last_run', (SELECT jsonb_build_object('run', r.id, 'kind', r.kind, 'status', r.status,
                                                        'at', coalesce(r.finished_at, r.started_at, r.created_at))
                                FROM ml.training_runs r WHERE r.project = o.project ORDER BY r.id DESC LIMIT 1),
                 'open_alerts', coalesce((SELECT (m.degraded_version IS NOT NULL)::int + (m.drifted_version IS NOT NULL)::int
                                            FROM ml.monitors m WHERE m.project = o.project), 0)
               ) ORDER BY o.project), '[]')::text
          FROM ml.project_overview o
         WHERE \(projects)::text[] IS NULL OR o.project = ANY (\(projects)::text[])
        """
    }

    /// The project page's statement: `$1` the project, `$2` the hour (seconds since 1970)
    /// from which to count predictions per hour (``PredictionVolumeCache`` has the hours
    /// before it). No row for a project that does not exist; `hour` in the JSON: the
    /// current hour, by the database's clock. Prepared (``PreparedOnce``): a statement
    /// this size over the partitioned prediction log took longer to plan (25-30 ms,
    /// measured) than to run, and a connection plans it once.
    struct Project: PostgresPreparedStatement {
        static let name = "pgscore_dashboard_project"
        static let sql = """
        WITH RECURSIVE features(feature) AS (
               -- the features with drift measurements: a skip scan of ml.drift (project, feature, window_end)
               (SELECT d.feature FROM ml.drift d WHERE d.project = $1::text ORDER BY d.feature LIMIT 1)
               UNION ALL
               SELECT (SELECT d.feature FROM ml.drift d WHERE d.project = $1::text AND d.feature > f.feature
                        ORDER BY d.feature LIMIT 1)
                 FROM features f WHERE f.feature IS NOT NULL)
        SELECT jsonb_build_object(
                 'overview', to_jsonb(o),
                 'versions', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                'version', m.version, 'algorithm', m.algorithm, 'key_metric', m.key_metric, 'score', m.score,
                                'metrics', (SELECT coalesce(jsonb_object_agg(k, v ORDER BY k), '{}') FROM jsonb_each(m.metrics) AS x(k, v)
                                             WHERE jsonb_typeof(v) = 'number' AND k <> 'rows'),
                                'hyperparams', m.hyperparams, 'train_rows', m.train_rows, 'test_rows', m.test_rows,
                                'duration_ms', m.duration_ms, 'created_by', m.created_by, 'created_at', m.created_at)
                                ORDER BY m.version), '[]')
                                FROM ml.models m WHERE m.project_id = p.id),
                 'deployments', (SELECT coalesce(jsonb_agg(to_jsonb(d) ORDER BY d.id DESC), '[]')
                                   FROM (SELECT d.id, d.version, d.strategy, d.replaced_version, d.reason, d.deployed_by, d.deployed_at,
                                                d.requested_by
                                           FROM ml.deployments d WHERE d.project_id = p.id
                                          ORDER BY d.id DESC LIMIT \(DashboardQueries.listLimit)) d),
                 'evaluations', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                          'version', e.version, 't', extract(epoch FROM e.window_end)::float8, 'metric', e.metric,
                                          'value', e.value, 'baseline', e.baseline, 'threshold', e.threshold)
                                        ORDER BY e.window_end, e.id), '[]')
                                   FROM (SELECT e.id, e.version, e.window_end, e.metric, e.value, e.baseline, e.threshold
                                           FROM ml.evaluations e WHERE e.project = p.name
                                          ORDER BY e.window_end DESC, e.id DESC LIMIT \(DashboardQueries.seriesLimit)) e),
                 'drift', (SELECT coalesce(jsonb_agg(to_jsonb(l) ORDER BY l.feature), '[]')
                             FROM features f CROSS JOIN LATERAL (
                               -- each feature's latest, as ml.drift_report picks it
                               SELECT d.feature, d.version, d.kind, d.psi, d.n, d.threshold, d.drifted, d.window_start, d.window_end
                                 FROM ml.drift d WHERE d.project = p.name AND d.feature = f.feature
                                ORDER BY d.window_end DESC, d.id DESC LIMIT 1) l),
                 'drift_history', (SELECT coalesce(jsonb_agg(jsonb_build_object('feature', l.feature, 't', l.t, 'psi', l.psi)
                                                             ORDER BY l.feature, l.t), '[]')
                                     FROM features f CROSS JOIN LATERAL (
                                       SELECT d.feature, extract(epoch FROM d.window_end)::float8 AS t, d.psi
                                         FROM ml.drift d WHERE d.project = p.name AND d.feature = f.feature
                                        ORDER BY d.window_end DESC LIMIT \(DashboardQueries.driftPointsPerFeature)) l),
                 'hour', extract(epoch FROM date_trunc('hour', now()))::float8,
                 'volume', (SELECT coalesce(jsonb_agg(jsonb_build_object('t', extract(epoch FROM v.hour)::float8, 'n', v.n)
                                                      ORDER BY v.hour), '[]')
                              FROM (SELECT date_trunc('hour', pr.created_at) AS hour, count(*) AS n FROM ml.predictions pr
                                     WHERE pr.project = p.name
                                       AND pr.created_at >= greatest(date_trunc('hour', now()) - interval '23 hours',
                                                                     to_timestamp($2::float8))
                                     GROUP BY 1) v),
                 'runs', (SELECT coalesce(jsonb_agg(to_jsonb(r) - 'project' ORDER BY r.run DESC), '[]')
                            FROM (SELECT * FROM ml.run_history r WHERE r.project = p.name ORDER BY r.run DESC LIMIT \(DashboardQueries.listLimit)) r),
                 'schedules', (SELECT coalesce(jsonb_agg(to_jsonb(s) - 'project' ORDER BY s.schedule), '[]')
                                 FROM ml.schedule_overview s WHERE s.project = p.name),
                 'actions', (SELECT coalesce(jsonb_agg(to_jsonb(a) - 'project' - 'details' ORDER BY a.created_at DESC), '[]')
                               FROM (SELECT * FROM ml.action_history a WHERE a.project = p.name
                                      ORDER BY a.created_at DESC LIMIT \(DashboardQueries.listLimit)) a),
                 'monitor', (SELECT jsonb_build_object('window', m.window_size::text, 'max_drop', m.max_drop, 'min_score', m.min_score,
                                                       'drift_threshold', m.drift_threshold, 'action', m.action,
                                                       'degraded_version', m.degraded_version, 'drifted_version', m.drifted_version)
                               FROM ml.monitors m WHERE m.project = p.name)
               )::text
          FROM ml.projects p JOIN ml.project_overview o ON o.project = p.name
         WHERE p.name = $1::text
        """
        typealias Row = String

        let project: String
        let volumeSince: Double

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings()
            bindings.append(project)
            bindings.append(volumeSince)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> String { try row.decode(String.self) }
    }

    /// NULL for a version that does not exist.
    static func version(_ project: String, _ version: Int) -> PostgresQuery {
        """
        SELECT jsonb_build_object(
                 'version', m.version, 'task', p.task, 'algorithm', m.algorithm, 'hyperparams', m.hyperparams,
                 'label', m.label, 'label_type', m.label_type, 'features', m.features, 'source', m.source,
                 'train_rows', m.train_rows, 'test_rows', m.test_rows, 'fingerprint', m.fingerprint,
                 'feature_stats', m.feature_stats, 'metrics', m.metrics, 'key_metric', m.key_metric, 'score', m.score,
                 'split', m.split, 'duration_ms', m.duration_ms, 'created_by', m.created_by, 'created_at', m.created_at,
                 'pgscore_version', m.pgscore_version, 'model', ml.describe(m.model),
                 'deployed', m.version IS NOT DISTINCT FROM
                             (SELECT d.version FROM ml.deployments d WHERE d.project_id = p.id ORDER BY d.id DESC LIMIT 1)
               )::text
          FROM ml.models m JOIN ml.projects p ON p.id = m.project_id
         WHERE p.name = \(project) AND m.version = \(version)::int
        """
    }
}
