// The runtime the WASI command drives, in one place: a model session (open, begin, step) and the header
// parser inspect uses on its own.
export { Session, OpenOptions, GenOptions, Stats, EmittedToken, STEP_END, STEP_MORE, DEFAULT_MAX_TOKENS } from '../rt/session';
export { parseModelHeader, headerNeed } from '../rt/model-file';
export { readIfpruneInfo } from '../rt/ifprune';
