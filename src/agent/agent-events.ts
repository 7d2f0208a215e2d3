// What the agent reports, as typed events with stable field names. The screen
// (console-view.ts) and the JSON log are two views of the same events. No event carries a
// token: the start event has it masked.

export type AgentEvent =
  | { type: 'start'; siteId: string; origin: string; token: string; tokenFrom: string; calcBase: string; concurrency: number; rules: string; allowedCommands: string[] }
  | { type: 'warning'; text: string }
  | { type: 'send'; method: string; url: string; first: boolean }
  | { type: 'long-poll'; available: boolean }
  | { type: 'idle'; code: string | number; message: string }
  | { type: 'http-refused'; endpoint: string; httpStatus: number; body: string }
  | { type: 'protocol-failure'; endpoint: string; code: string | number; message: string; acceptId?: string }
  | { type: 'retry'; endpoint: string; retry: number; retries: number; delayMs: number; reason: string }
  | { type: 'gave-up'; endpoint: string; reason: string; retries: number }
  | { type: 'resume'; acceptId: string; phase: string }
  | { type: 'claimed'; acceptId: string; attempt: number | null }
  | { type: 'step'; acceptId: string; step: string; note?: string }
  | { type: 'calc-refused'; acceptId: string; reason: string }
  | { type: 'command-start'; acceptId: string; command: string; args: string[]; pid: number; workdir: string }
  | { type: 'command-exit'; acceptId: string; exitCode: number | null; signal: string | null; killedByAgent: boolean }
  | { type: 'results'; acceptId: string; sent: string[]; missing: string[]; refused: { name: string; reason: string }[] }
  | { type: 'calc-done'; acceptId: string; result: 'calc end' | 'abnormal'; reason: string | null }
  | { type: 'calc-abandoned'; acceptId: string; reason: string }
  /** A leased calc's heartbeat: lost contact (the command keeps running), reconnected, cancelled, or lease lost. */
  | { type: 'lease'; acceptId: string; state: 'no-contact' | 'reconnected' | 'cancelled' | 'lease-lost'; reason: string }
  | { type: 'workdir-removed'; path: string }
  | { type: 'interrupt'; signal: string; outcome: 'drain' | 'stop' | 'exit-now'; running: number }
  | { type: 'state'; from: string; to: string; why: string }
  | { type: 'fatal'; message: string }
  | { type: 'exit'; code: number };

export type EventSink = (e: AgentEvent) => void;
