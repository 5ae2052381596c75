// actors.ts: the Actor attributes Docker puts on each kind of event, so that every
// service records them the same way (moby daemon/events.go: a container's image and
// name plus its labels; an image's name; a volume's driver).
import type { Engine } from '../engine.js';
import type { ContainerRecord } from '../containers/types.js';

/** Records a container event: attributes image, name, the container's labels, then extra. */
export function containerEvent(engine: Engine, c: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
  engine.events.record({
    Type: 'container', Action: action,
    Actor: { ID: c.Id, Attributes: { ...(c.Config.Labels ?? {}), image: c.ImageRef, name: c.Name, ...extra } },
  });
}

/** Records an image event; `id` is the image id or the reference the action was about. */
export function imageEvent(engine: Engine, id: string, action: string, attrs: Record<string, string> = {}): void {
  engine.events.record({ Type: 'image', Action: action, Actor: { ID: id, Attributes: attrs } });
}

export function volumeEvent(engine: Engine, name: string, action: string, attrs: Record<string, string> = {}): void {
  engine.events.record({ Type: 'volume', Action: action, Actor: { ID: name, Attributes: attrs } });
}
