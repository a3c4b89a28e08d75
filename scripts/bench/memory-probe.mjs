// Preloaded into bench server processes (node --expose-gc --import ./memory-probe.mjs ...): answers
// {type:'memory', gc?:boolean} messages on the IPC channel with process.memoryUsage(), optionally after
// a full garbage collection, so the bench can tell heap growth from PGlite's (WebAssembly) resident memory.
// Adds nothing to the request path; without an IPC channel it does nothing.
if (typeof process.send === 'function') {
  process.on('message', (message) => {
    if (message?.type !== 'memory') {
      return;
    }
    if (message.gc && typeof globalThis.gc === 'function') {
      globalThis.gc();
    }
    process.send({ type: 'memory', id: message.id, usage: process.memoryUsage() });
  });
  // The server keeps the process alive; the channel must not.
  process.channel?.unref();
}
