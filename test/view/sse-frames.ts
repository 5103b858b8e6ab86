// The live view's Server-Sent Events as a client reads them, for the view tests.

/** Reads an SSE stream's frames (event name and parsed data) as they come. */
export async function readFrames(
  res: Response,
  frames: Array<{ event: string; data: unknown }>,
  signal: AbortSignal,
): Promise<void> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  try {
    while (!signal.aborted) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let end;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const event = /^event: (.*)$/m.exec(frame)?.[1];
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (event && data) frames.push({ event, data: JSON.parse(data) });
      }
    }
  } catch {
    // aborted
  }
}
