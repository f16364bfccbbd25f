/** The typed error every API recorder throws for invalid input (nothing is recorded then). */
export class CardlinkInputError extends TypeError {
  readonly code = 'CARDLINK_INVALID_INPUT' as const;
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`cardlink-otel: ${field}: ${message}`);
    this.name = 'CardlinkInputError';
  }
}
