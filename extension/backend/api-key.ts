/**
 * The remote endpoint's API key: kept in VS Code's SecretStorage (never in settings files, never
 * logged), set and cleared from the command palette.
 */
import * as vscode from 'vscode';

export const REMOTE_KEY_SECRET = 'switchyard.remote.apiKey';

export function registerApiKeyCommands(secrets: vscode.SecretStorage, endpoint: () => string): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('switchyard.setRemoteApiKey', async () => {
      const key = await vscode.window.showInputBox({
        title: 'Switchyard: API key of the remote endpoint',
        prompt: `Sent as "Authorization: Bearer" to ${endpoint() || 'switchyard.remote.endpoint (not set yet)'}; kept in VS Code's secret storage, never in settings.`,
        password: true,
        ignoreFocusOut: true,
        // A header value: Node would otherwise reject it later with an error that quotes the key.
        validateInput: (v) => (/^[\x21-\x7e]*$/.test(v.trim()) ? undefined : 'An API key has no spaces or non-ASCII characters'),
      });
      if (key === undefined) return;
      if (key.trim()) await secrets.store(REMOTE_KEY_SECRET, key.trim());
      else await secrets.delete(REMOTE_KEY_SECRET);
      vscode.window.setStatusBarMessage(`Switchyard: remote API key ${key.trim() ? 'saved' : 'cleared'}`, 3000);
    }),
    vscode.commands.registerCommand('switchyard.clearRemoteApiKey', async () => {
      await secrets.delete(REMOTE_KEY_SECRET);
      vscode.window.setStatusBarMessage('Switchyard: remote API key cleared', 3000);
    }),
  ];
}
