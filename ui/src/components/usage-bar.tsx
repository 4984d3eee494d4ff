import { formatBytes } from '../format';
import type { Usage } from '../sdk';

/** The tenant's storage against its quota. */
export function UsageBar({ usage }: { usage: Usage | null }) {
  if (!usage) return <div class="usage" aria-hidden="true" />;
  const { usedBytes, reservedBytes, limitBytes, fileCount } = usage;
  const percent = limitBytes > 0 ? Math.min(100, (usedBytes / limitBytes) * 100) : 0;
  const summary = `${formatBytes(usedBytes)} of ${formatBytes(limitBytes)} used`;
  return (
    <div class="usage" data-used-bytes={usedBytes} data-limit-bytes={limitBytes}>
      <meter
        min={0}
        max={limitBytes || 1}
        value={usedBytes}
        high={limitBytes * 0.9}
        optimum={0}
        aria-label={`Storage: ${summary}`}
      />
      <span class="usage-text">
        {summary} <span class="muted">({percent < 1 && usedBytes > 0 ? '<1' : Math.round(percent)}%)</span>
        <span class="muted">
          {' · '}
          {fileCount} {fileCount === 1 ? 'file' : 'files'}
        </span>
        {reservedBytes > 0 && <span class="muted"> · {formatBytes(reservedBytes)} uploading</span>}
      </span>
    </div>
  );
}
