// One do-nothing function for every layer (it sits in the lowest): the handler of a rejection or an
// 'error' event that is expected and already reported elsewhere. One shared function also means
// no closure is made per connection for it.

/** Does nothing: for `promise.catch(ignore)` and `socket.on('error', ignore)`. */
export function ignore(): void {}
