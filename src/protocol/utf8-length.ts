/**
 * The number of bytes `text` takes in UTF-8, as TextEncoder writes it (a lone surrogate becomes
 * U+FFFD, 3 bytes). Plain code with no Node module, so that the browser entry can check close
 * reasons too; the strings it measures are short (close reasons of at most 123 bytes).
 */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}
