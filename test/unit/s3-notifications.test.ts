import { describe, expect, it } from 'vitest';
import { encodeEventKey, s3NotificationEvent } from '../../infra/local/s3-notifications';

/** How on-object-created (and any S3 event consumer) reads the key back. */
const decodeKey = (key: string) => decodeURIComponent(key.replace(/\+/g, ' '));

describe('the S3 notification built for the emulator', () => {
  it('encodes keys as S3 does in events: form-URL-encoding, space as +, slashes kept', () => {
    expect(encodeEventKey('_staging/acme/7c9e6679742540de944be07fc1f90ae7.pdf')).toBe(
      '_staging/acme/7c9e6679742540de944be07fc1f90ae7.pdf',
    );
    expect(encodeEventKey("red flower/c+d (1)!~'*-_.txt")).toBe('red+flower/c%2Bd+%281%29%21%7E%27*-_.txt');
    expect(encodeEventKey('é/ü?#&=%.txt')).toBe('%C3%A9/%C3%BC%3F%23%26%3D%25.txt');
    for (const key of ['a b', 'a+b', 'x/%20/y', '日本/語 ファイル.txt', '  /+/', "!'()~*"]) {
      expect(decodeKey(encodeEventKey(key))).toBe(key);
    }
  });

  it('has the fields of an AWS ObjectCreated record, and sequencers that grow', () => {
    const created = {
      bucket: 'b',
      key: '_staging/t/x y.bin',
      size: 3,
      eTag: 'abc',
      eventName: 'ObjectCreated:Put',
      sourceIp: '10.0.0.1',
    };
    const time = new Date('2026-01-01T00:00:00.000Z');
    const [record] = s3NotificationEvent(created, { region: 'eu-west-1', time }).Records;
    expect(record).toEqual({
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: 'eu-west-1',
      eventTime: '2026-01-01T00:00:00.000Z',
      eventName: 'ObjectCreated:Put',
      userIdentity: { principalId: expect.any(String) },
      requestParameters: { sourceIPAddress: '10.0.0.1' },
      responseElements: {
        'x-amz-request-id': expect.stringMatching(/^[0-9A-F]{16}$/),
        'x-amz-id-2': expect.any(String),
      },
      s3: {
        s3SchemaVersion: '1.0',
        configurationId: expect.any(String),
        bucket: { name: 'b', ownerIdentity: { principalId: expect.any(String) }, arn: 'arn:aws:s3:::b' },
        object: {
          key: '_staging/t/x+y.bin',
          size: 3,
          eTag: 'abc',
          sequencer: expect.stringMatching(/^[0-9A-F]{18}$/),
        },
      },
    });
    const sequencers = Array.from(
      { length: 500 },
      () => s3NotificationEvent(created, { region: 'eu-west-1' }).Records[0]?.s3.object.sequencer ?? '',
    );
    expect([...sequencers].sort()).toEqual(sequencers);
    expect(new Set(sequencers).size).toBe(sequencers.length);
  });
});
