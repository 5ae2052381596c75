// main.ts: the `stowage` command. Parses arguments with commander, opens the
// engine only for commands that need it (start-up is most of a small command's
// time, so command modules are imported lazily), formats results, and maps
// error categories to exit codes. Only this layer prints.
import { Command, CommanderError, Option } from 'commander';
import { startupSnapshot } from 'node:v8';
import { exitCodeFor, messageFor, ExitError } from './exit.js';
import { VERSION } from './version.js';

export interface GlobalOptions { dataRoot?: string; storageDriver?: string }

const program = new Command('stowage');
program
  .description('A container storage engine: layered images, storage drivers, volumes')
  .option('--data-root <dir>', 'root of persistent stowage state (default /var/lib/stowage as root; env STOWAGE_DATA_ROOT)')
  .addOption(new Option('-s, --storage-driver <name>', 'storage driver to use (btrfs, zfs, overlay2, fuse-overlayfs, vfs)').env('STOWAGE_STORAGE_DRIVER'))
  .option('-v, --version', 'print version information and quit')
  .configureOutput({ writeErr: (s) => process.stderr.write(s) })
  .showHelpAfterError(false)
  .exitOverride()
  .enablePositionalOptions()
  .allowExcessArguments(false);

program.on('option:version', () => {
  process.stdout.write(`Stowage version ${VERSION}\n`);
  process.exit(0);
});

export const globals = (): GlobalOptions => program.opts<GlobalOptions>();

import { registerImageCommands } from './commands/images.js';
import { registerSystemCommands } from './commands/system.js';
import { registerDfCommand } from './commands/df.js';
import { registerVolumeCommands } from './commands/volumes.js';
import { registerContainerCommands } from './commands/containers.js';
import { registerBuildCommands } from './commands/build.js';
import { registerCsiCommand } from './commands/csi.js';
import { registerPluginCommands } from './commands/plugins.js';
import { registerServeCommand } from './commands/serve.js';
import { registerStreamCommands } from './commands/streams.js';
import { registerRegistryCommands } from './commands/registry.js';
import { applyDockerFlagRules } from './flags.js';
import { plainMessage } from '../errno.js';
import { becomeCommand } from './warm-child.js';

registerImageCommands(program, globals);
registerSystemCommands(program, globals);
registerDfCommand(program, globals);
registerVolumeCommands(program, globals);
registerContainerCommands(program, globals);
registerBuildCommands(program, globals);
registerCsiCommand(program, globals);
registerPluginCommands(program, globals);
registerServeCommand(program, globals);
registerStreamCommands(program, globals);
registerRegistryCommands(program, globals);
applyDockerFlagRules(program);

async function main(args: string[]): Promise<void> {
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') process.exit(0);
      // Docker's CLI exits 125 on usage errors.
      process.exit(125);
    }
    if (err instanceof ExitError) {
      process.stderr.write(plainMessage(err.message) + '\n');
      process.exit(err.code);
    }
    process.stderr.write(messageFor(err) + '\n');
    if (process.env.STOWAGE_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
    process.exit(exitCodeFor(err));
  }
}

// Inside a V8 start-up snapshot (scripts/build.mjs) main runs after deserialisation.
// There, process.argv holds no script path: the arguments start at argv[1].
// A warm process (`stowage warm`, STOWAGE_WARM_CHILD=1) first waits for the command it will be.
if (startupSnapshot.isBuildingSnapshot()) {
  startupSnapshot.setDeserializeMainFunction(() => {
    if (process.env.STOWAGE_WARM_CHILD === '1') void becomeCommand().then((args) => main(args));
    else void main(process.argv.slice(1));
  });
} else void main(process.argv.slice(2));
