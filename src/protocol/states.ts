// The three state fields of a calc, spelled exactly as deployed clients read them.

/** calc_progress values, in the order a calc moves through them. */
export const PROGRESS = [
  'not start',
  'sending params',
  'complete send',
  'running',
  'calc end',
  'getting return',
  'got return',
] as const;
export type Progress = (typeof PROGRESS)[number];

/** calc_status values. */
export const STATUS = ['none', 'completed', 'abnormal'] as const;
export type Status = (typeof STATUS)[number];

/** The value calc-end's `result` takes, mapped to the status it sets. */
export const CALC_END_RESULTS: Record<string, Status> = {
  'calc end': 'completed',
  abnormal: 'abnormal',
};

/** wait_allow shows `none` until the workflow side allows the calc. */
export const WAIT_ALLOW_NONE = 'none';

/**
 * A remote-side step: the progress it requires and the progress it sets.
 * `orAbnormal` lets the step run from any progress once the calc's status is abnormal
 * (the deployed poller sends whatever results exist after a failed command).
 */
export interface Step {
  readonly from: readonly Progress[];
  readonly to: Progress;
  readonly orAbnormal?: boolean;
}

export const STEPS = {
  'calc-params': { from: ['not start'], to: 'sending params' },
  'calc-params-complete': { from: ['sending params'], to: 'complete send' },
  'calc-start': { from: ['complete send'], to: 'running' },
  'calc-end': { from: ['running'], to: 'calc end' },
  'send-results': { from: ['calc end'], to: 'getting return', orAbnormal: true },
  'end-send': { from: ['calc end', 'getting return'], to: 'got return', orAbnormal: true },
} as const satisfies Record<string, Step>;
export type StepName = keyof typeof STEPS;

/** Progress values during which a plain (non-forced) cancel is refused. */
export const IN_FLIGHT: readonly Progress[] = [
  'sending params',
  'complete send',
  'running',
  'calc end',
  'getting return',
];

/** True when `p` is `target` or later in the calc's life. */
export function progressAtLeast(p: Progress, target: Progress): boolean {
  return PROGRESS.indexOf(p) >= PROGRESS.indexOf(target);
}

export function isProgress(x: unknown): x is Progress {
  return typeof x === 'string' && (PROGRESS as readonly string[]).includes(x);
}
