import { isWhiteout, parseOverlayMarks } from '../../lib/builder/packers/oci/changes-layer';

describe('overlay marks of an upper directory', () => {
  test('opaque directories are found; renames and metadata-only copies are not translatable', () => {
    const dump = [
      '# file: /w/upper/usr/share/replaced',
      'trusted.overlay.opaque="y"',
      '',
      '# file: /w/upper/etc/not-opaque',
      'trusted.overlay.opaque="n"',
      '',
      '# file: /w/upper/etc/origin-only',
      'trusted.overlay.origin=0sAPsdAAE=',
      '',
    ].join('\n');
    expect(parseOverlayMarks(dump)).toEqual({ opaque: ['/w/upper/usr/share/replaced'], unsupported: [] });
    const renamed = '# file: /w/upper/opt/moved\ntrusted.overlay.redirect="/opt/old"\n\n# file: /w/upper/bin/x\ntrusted.overlay.metacopy=""\n';
    expect(parseOverlayMarks(renamed).unsupported).toEqual(['/w/upper/opt/moved (redirect)', '/w/upper/bin/x (metacopy)']);
    expect(parseOverlayMarks('')).toEqual({ opaque: [], unsupported: [] });
  });

  test('a whiteout is a character device 0/0, nothing else', () => {
    expect(isWhiteout({ isCharacterDevice: () => true, rdev: 0 })).toBe(true);
    expect(isWhiteout({ isCharacterDevice: () => true, rdev: 259 })).toBe(false);
    expect(isWhiteout({ isCharacterDevice: () => false, rdev: 0 })).toBe(false);
  });
});
