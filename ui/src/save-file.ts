/**
 * Hands a URL to the browser's own download: a signed link whose answer says "attachment", so the
 * browser streams it to disk (a file of gigabytes is never held in the page).
 */
export function saveFromUrl(url: string, name: string): void {
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.rel = 'noopener';
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
}
