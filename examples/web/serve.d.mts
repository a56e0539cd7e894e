export function startServer(opts?: { root?: string; port?: number; mounts?: Record<string, string> }): Promise<{ url: string; log: string[]; close(): Promise<void> }>;
