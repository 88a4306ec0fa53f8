/** Step 1: re-validate every message against the one event model. A message that fails can never succeed: dead-letter it. */
import { collectedEventSchema } from '../../../schema/event';
import { deadLetter, type Outcome, type PipelineItem, type Step } from '../types';

function bodyOf(message: Message<unknown>): unknown {
  // The edge sends JSON text (`contentType: 'text'`); dead-letter and stream replays send objects.
  if (typeof message.body !== 'string') return message.body;
  try {
    return JSON.parse(message.body);
  } catch {
    return message.body;
  }
}

export const parseStep: Step = {
  name: 'parse',
  async run({ items }) {
    const outcomes = new Map<PipelineItem, Outcome>();
    for (const item of items) {
      const parsed = collectedEventSchema.safeParse(bodyOf(item.message));
      if (parsed.success) {
        item.event = parsed.data;
      } else {
        const issues = parsed.error.issues.slice(0, 5).map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
        outcomes.set(item, deadLetter(`invalid_event: ${issues.join('; ')}`));
      }
    }
    return outcomes;
  },
};
