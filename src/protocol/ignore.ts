// One do-nothing function for every layer (it sits in the lowest): the handler of a rejection or an
// 'error' event that is expected and already reported elsewhere.
// Memory: see docs/memory.md#shared-methods-instead-of-closures

/** Does nothing: for `promise.catch(ignore)` and `socket.on('error', ignore)`. */
export function ignore(): void {}
