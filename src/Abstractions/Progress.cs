namespace Occystrap.Abstractions;

/// <summary>Where plugins report long work. The host draws bars on a terminal and periodic lines otherwise.</summary>
public interface IProgressReporter
{
    /// <param name="description">What is being done, e.g. "layer 3/8 sha256:1a2b…".</param>
    /// <param name="totalBytes">The expected size, when known.</param>
    IProgressTask Start(string description, long? totalBytes);
}

public interface IProgressTask : IDisposable
{
    void Advance(long bytes);
}

/// <summary>A reporter that shows nothing, for tests and quiet use.</summary>
public sealed class NullProgressReporter : IProgressReporter
{
    public static NullProgressReporter Instance { get; } = new();

    public IProgressTask Start(string description, long? totalBytes) => NullTask.Instance;

    private sealed class NullTask : IProgressTask
    {
        public static NullTask Instance { get; } = new();
        public void Advance(long bytes) { }
        public void Dispose() { }
    }
}
