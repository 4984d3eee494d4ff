import './styles.css';
import { render } from 'preact';
import { App } from './components/app';
import { loadConfig } from './config';

const root = document.getElementById('app') as HTMLElement;

loadConfig().then(
  (config) => render(<App config={config} />, root),
  (e: unknown) =>
    render(
      <main class="startup-error">
        <h1>The file browser cannot start</h1>
        <p role="alert">{e instanceof Error ? e.message : String(e)}</p>
      </main>,
      root,
    ),
);
