/** Step 4: one row per event that survived dedup, with its resolved person (see event-row.ts). */
import { buildEventRow } from '../event-row';
import type { Step } from '../types';

export const buildRowsStep: Step = {
  name: 'build_rows',
  async run({ items, deps }) {
    const insertedAtMs = deps.now();
    for (const item of items) {
      if (item.event && item.personId) item.row = buildEventRow(item.event, item.personId, insertedAtMs);
    }
  },
};
