import { HandshakeError } from './handshake-error.js';
/**
 * The Sec-WebSocket-Extensions header grammar (RFC 6455 9.1):
 *
 *   extension-list = 1#extension
 *   extension      = token *( ";" param )
 *   param          = token [ "=" ( token / quoted-string ) ]
 *
 * Parsing is strict: anything outside the grammar is an Error naming the position, so that a
 * malformed answer fails the handshake with a message a developer can act on.
 */

/** One extension of the list: its name and its parameters in order (a bare parameter is `true`). */
export interface ExtensionOffer {
  name: string;
  params: Array<[name: string, value: string | true]>;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

export function parseExtensionHeader(value: string): ExtensionOffer[] {
  const offers: ExtensionOffer[] = [];
  let i = 0;
  const fail = (what: string): never => {
    throw new HandshakeError('ERR_WS_EXTENSION_NEGOTIATION', `Invalid Sec-WebSocket-Extensions header ${JSON.stringify(value)}: ${what} at position ${i}`);
  };
  const skipSpace = (): void => {
    while (i < value.length && (value[i] === ' ' || value[i] === '\t')) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < value.length && TOKEN_CHAR.test(value[i]!)) i++;
    if (i === start) fail('expected a token');
    return value.slice(start, i);
  };
  const quoted = (): string => {
    i++; // opening quote
    let text = '';
    while (i < value.length && value[i] !== '"') {
      if (value[i] === '\\') i++;
      if (i >= value.length) break;
      text += value[i];
      i++;
    }
    if (value[i] !== '"') fail('unterminated quoted string');
    i++;
    return text;
  };

  // Empty list elements (", ,") are allowed by the #rule; an entirely empty header is no list.
  for (;;) {
    skipSpace();
    if (i >= value.length) break;
    if (value[i] === ',') {
      i++;
      continue;
    }
    const offer: ExtensionOffer = { name: token(), params: [] };
    offers.push(offer);
    for (;;) {
      skipSpace();
      if (i >= value.length || value[i] === ',') break;
      if (value[i] !== ';') fail('expected ";" or ","');
      i++;
      skipSpace();
      const name = token();
      skipSpace();
      if (value[i] !== '=') {
        offer.params.push([name, true]);
        continue;
      }
      i++;
      skipSpace();
      const paramValue = value[i] === '"' ? quoted() : token();
      offer.params.push([name, paramValue]);
    }
  }
  if (offers.length === 0) fail('no extension');
  return offers;
}
