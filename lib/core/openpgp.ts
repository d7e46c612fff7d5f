import { createHash } from 'node:crypto';

/** One OpenPGP packet of a binary keyring: its tag and where it and its body lie. */
export interface KeyringPacket {
  tag: number;
  /** Offset of the packet header. */
  start: number;
  bodyStart: number;
  /** Offset just past the body. */
  end: number;
}

/**
 * The packets of a binary OpenPGP keyring (what gpg exports and apt's keyrings hold),
 * old and new header formats (RFC 4880, 4.2). Throws on anything that is not a
 * well-formed packet sequence.
 */
export function keyringPackets(keyring: Buffer): KeyringPacket[] {
  const packets: KeyringPacket[] = [];
  let at = 0;
  while (at < keyring.length) {
    const header = keyring[at];
    if ((header & 0x80) === 0) throw new Error(`not an OpenPGP keyring (byte ${at} is no packet header)`);
    let tag: number;
    let length: number;
    let bodyStart: number;
    if (header & 0x40) {
      // New format: tag in the low six bits, then a one, two or five octet length.
      tag = header & 0x3f;
      const first = keyring[at + 1];
      if (first < 192) {
        length = first;
        bodyStart = at + 2;
      } else if (first < 224) {
        length = ((first - 192) << 8) + keyring[at + 2] + 192;
        bodyStart = at + 3;
      } else if (first === 255) {
        length = keyring.readUInt32BE(at + 2);
        bodyStart = at + 6;
      } else {
        throw new Error('partial-length packets do not belong in a keyring');
      }
    } else {
      // Old format: tag in bits 5-2, length type in bits 1-0.
      tag = (header >> 2) & 0x0f;
      const lengthType = header & 0x03;
      if (lengthType === 3) throw new Error('indeterminate-length packets do not belong in a keyring');
      const octets = [1, 2, 4][lengthType];
      length = octets === 1 ? keyring[at + 1] : octets === 2 ? keyring.readUInt16BE(at + 1) : keyring.readUInt32BE(at + 1);
      bodyStart = at + 1 + octets;
    }
    const end = bodyStart + length;
    if (Number.isNaN(length) || end > keyring.length) throw new Error('truncated OpenPGP packet');
    packets.push({ tag, start: at, bodyStart, end });
    at = end;
  }
  return packets;
}

const PUBLIC_KEY = 6;

/**
 * The fingerprints of the primary keys in a binary keyring, enough to pin a keyring to
 * the keys it must hold: a version 4 fingerprint is the SHA-1 of 0x99, the two-byte body
 * length and the public-key packet body (RFC 4880, 12.2).
 */
export function primaryKeyFingerprints(keyring: Buffer): string[] {
  return keyringPackets(keyring)
    .filter((packet) => packet.tag === PUBLIC_KEY)
    .map(({ bodyStart, end }) => {
      const body = keyring.subarray(bodyStart, end);
      if (body[0] !== 4) throw new Error(`public key packet version ${body[0]} (only version 4 is pinned)`);
      const length = end - bodyStart;
      const prefix = Buffer.from([0x99, (length >> 8) & 0xff, length & 0xff]);
      return createHash('sha1').update(prefix).update(body).digest('hex').toUpperCase();
    });
}
