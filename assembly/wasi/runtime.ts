// The runtime the WASI command drives, in one place: assembly/rt/session.ts (a model session: open,
// begin, step) and assembly/rt/model-file.ts (the header parser inspect uses). Until those land the
// names come from session-stub.ts.
export { Session, OpenOptions, GenOptions, Stats, EmittedToken, STEP_END, STEP_MORE, DEFAULT_MAX_TOKENS } from './session-stub';
export { parseModelHeader, headerNeed } from './session-stub';
export { readIfpruneInfo } from '../rt/ifprune';
