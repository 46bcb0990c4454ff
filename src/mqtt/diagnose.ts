// What a broker failure means to a person, and the likely fix: the same words in `--check` and in
// the running bridge's log, written once.
import { describeError, systemCode } from "../errors.js";

export interface BrokerDiagnosis {
  /** Stable per cause (ECONNREFUSED, CONNACK 5...), to tell a repeat from a new problem. */
  kind: string;
  /** The cause and the likely fix, for a person. */
  text: string;
}

export function diagnoseBroker(err: unknown, url: string): BrokerDiagnosis {
  const code = systemCode(err);
  const shown = redactBroker(url);
  if (code === "ECONNREFUSED") {
    return {
      kind: code,
      text: `connection refused at ${shown}: is the broker running and reachable from here?`,
    };
  }
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") {
    return { kind: "ENOTFOUND", text: `cannot resolve the host of ${shown}: check MQTT_URL` };
  }
  // A CONNACK refusal: mqtt.js gives the reason code as a number.
  const reason = (err as { code?: unknown } | undefined)?.code;
  if (typeof reason === "number") {
    const hint =
      reason === 4 || reason === 5 || reason === 134 || reason === 135
        ? ": check MQTT_USERNAME and MQTT_PASSWORD (or the broker's ACL)"
        : "";
    return {
      kind: `CONNACK ${reason}`,
      text: `${shown} refused the connection (${(err as Error).message})${hint}`,
    };
  }
  return { kind: code ?? describeError(err), text: `${shown}: ${describeError(err)}` };
}

/** The text alone, as `--check` prints it. */
export function brokerProblem(err: unknown, url: string): string {
  return diagnoseBroker(err, url).text;
}

/** The broker URL without credentials, for log lines (up to the last `@`: passwords may hold one). */
export function redactBroker(url: string): string {
  return url.replace(/(\/\/)[^\s"]*@/, "$1***@");
}
