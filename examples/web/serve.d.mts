export function startServer(opts?: { root?: string; port?: number; mounts?: Record<string, string>; isolated?: boolean }): Promise<{ url: string; log: string[]; close(): Promise<void> }>;
