// Reading `POST /images/create`'s progress stream (one JSON object a line): the first error, and
// how far the download is, from the layers' `progressDetail` (current/total bytes). Pure.

export interface PullLine {
  id?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  progressDetail?: { current?: number; total?: number };
}

export class PullProgress {
  readonly #layers = new Map<string, { current: number; total: number }>();
  #error: string | undefined;

  /** Takes one line of the stream; unreadable lines are ignored. */
  push(line: string): void {
    let parsed: PullLine;
    try {
      parsed = JSON.parse(line) as PullLine;
    } catch {
      return;
    }
    if (parsed.error || parsed.errorDetail?.message) {
      this.#error ??= parsed.errorDetail?.message ?? parsed.error;
      return;
    }
    const id = parsed.id;
    if (!id) return;
    const detail = parsed.progressDetail;
    const status = parsed.status ?? "";
    if (status === "Downloading" && detail?.total && detail.total > 0) {
      this.#layers.set(id, { current: detail.current ?? 0, total: detail.total });
    } else if (
      /^(Download complete|Pull complete|Already exists|Verifying Checksum)/.test(status)
    ) {
      const layer = this.#layers.get(id);
      if (layer) layer.current = layer.total;
    }
  }

  get error(): string | undefined {
    return this.#error;
  }

  /** 0-100 over the layers seen downloading so far, or null before any reported a size. */
  get percentage(): number | null {
    let current = 0;
    let total = 0;
    for (const l of this.#layers.values()) {
      current += Math.min(l.current, l.total);
      total += l.total;
    }
    return total > 0 ? Math.floor((current / total) * 100) : null;
  }
}
