import type { UploadChoices } from '../upload-queue';

const DAY = 86_400;
const EXPIRY: { label: string; seconds: number | null }[] = [
  { label: 'Never', seconds: null },
  { label: 'In 1 day', seconds: DAY },
  { label: 'In 7 days', seconds: 7 * DAY },
  { label: 'In 30 days', seconds: 30 * DAY },
];

interface Props {
  choices: UploadChoices;
  onChange: (choices: UploadChoices) => void;
}

/** How the next uploads are stored: who may preview them, when they expire, what a taken name does. */
export function UploadSettings({ choices, onChange }: Props) {
  return (
    <fieldset class="upload-settings">
      <legend>New uploads</legend>
      <label class="inline-field">
        Visibility{' '}
        <select
          value={choices.visibility}
          onChange={(e) =>
            onChange({ ...choices, visibility: e.currentTarget.value === 'public' ? 'public' : 'private' })
          }
        >
          <option value="private">Private (links only)</option>
          <option value="public">Public (anyone with the address)</option>
        </select>
      </label>
      <label class="inline-field">
        Expires{' '}
        <select
          value={String(choices.expires ?? '')}
          onChange={(e) => onChange({ ...choices, expires: Number(e.currentTarget.value) || null })}
        >
          {EXPIRY.map((x) => (
            <option key={x.label} value={String(x.seconds ?? '')}>
              {x.label}
            </option>
          ))}
        </select>
      </label>
      <label class="inline-field">
        If the name is taken{' '}
        <select
          value={choices.onConflict}
          onChange={(e) =>
            onChange({ ...choices, onConflict: e.currentTarget.value as UploadChoices['onConflict'] })
          }
        >
          <option value="overwrite">Replace the file</option>
          <option value="rename">Keep both (rename)</option>
          <option value="fail">Do not upload</option>
        </select>
      </label>
    </fieldset>
  );
}
