package io.latentstream.registry;

/**
 * An error answer of a Confluent-compatible Schema Registry: the HTTP status and the body's {@code
 * error_code} and {@code message}. The codes below are the documented ones that Confluent, Apicurio
 * (ccompat), Karapace and Redpanda share.
 */
public class RegistryException extends RuntimeException {
  public static final int SUBJECT_NOT_FOUND = 40401;
  public static final int VERSION_NOT_FOUND = 40402;
  public static final int SCHEMA_NOT_FOUND = 40403;
  public static final int SUBJECT_COMPATIBILITY_NOT_CONFIGURED = 40408;
  public static final int INCOMPATIBLE_SCHEMA = 409;
  public static final int INVALID_SCHEMA = 42201;
  public static final int INVALID_VERSION = 42202;
  public static final int INVALID_COMPATIBILITY_LEVEL = 42203;
  public static final int NOT_FOUND = 404;
  public static final int METHOD_NOT_ALLOWED = 405;
  public static final int INTERNAL_SERVER_ERROR = 50001;

  private final int httpStatus;
  private final int errorCode;

  public RegistryException(int httpStatus, int errorCode, String message) {
    super(message + " (HTTP " + httpStatus + ", error_code " + errorCode + ")");
    this.httpStatus = httpStatus;
    this.errorCode = errorCode;
  }

  public int httpStatus() {
    return httpStatus;
  }

  public int errorCode() {
    return errorCode;
  }

  /**
   * Server-side failures and throttling are worth retrying; a 4xx answer about the request itself
   * will not change by asking again.
   */
  public boolean isRetriable() {
    return httpStatus >= 500 || httpStatus == 408 || httpStatus == 429;
  }
}
