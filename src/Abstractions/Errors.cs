namespace Occystrap.Abstractions;

/// <summary>A failure the user can act on: printed as one line, exit code 1.</summary>
public class OccystrapException : Exception
{
    public OccystrapException(string message) : base(message) { }
    public OccystrapException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>The command line or a URI/filter spec is wrong: printed as one line, exit code 2.</summary>
public class UsageException : OccystrapException
{
    public UsageException(string message) : base(message) { }
}

/// <summary>Bytes did not hash to the digest that names them.</summary>
public sealed class DigestMismatchException : OccystrapException
{
    public DigestMismatchException(string what, string expected, string actual)
        : base($"{what}: digest mismatch, expected {expected} but the content hashes to {actual}")
    {
        Expected = expected;
        Actual = actual;
    }

    public string Expected { get; }
    public string Actual { get; }
}
