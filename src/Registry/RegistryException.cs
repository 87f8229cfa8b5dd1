using System.Net;
using Occystrap.Abstractions;

namespace Occystrap.Registry;

/// <summary>A registry answered with an error, or could not be reached, after retries.</summary>
public sealed class RegistryException : OccystrapException
{
    public RegistryException(string message, HttpStatusCode? status = null, Exception? inner = null)
        : base(message, inner ?? new Exception(message))
    {
        Status = status;
    }

    public HttpStatusCode? Status { get; }

    /// <summary>A body that stalled or broke off: the request may be made again.</summary>
    internal bool Retryable { get; init; }
}
