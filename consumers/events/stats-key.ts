/** Redis list of recent consumer batch reports (newest first), read by `bench/ingest` and for debugging; capped. */
export const PIPELINE_STATS_KEY = 'monfri:pipeline_stats';
export const PIPELINE_STATS_KEEP = 5000;
