namespace Occystrap.Abstractions;

/// <summary>
/// What every plugin tells the host once it is loaded. Its role and name are declared statically with
/// <see cref="InputPluginAttribute"/>, <see cref="OutputPluginAttribute"/> or <see cref="FilterPluginAttribute"/>,
/// so that the host can list plugins and pick the ones a command needs without loading them.
/// </summary>
public interface IPlugin
{
    /// <summary>One line for the <c>plugins</c> listing and help.</summary>
    string Description { get; }

    /// <summary>The options the plugin takes (URI query options or filter options).</summary>
    IReadOnlyList<OptionDescriptor> Options { get; }
}

/// <summary>Opens a source image from <c>scheme://target?options</c>.</summary>
public interface IInputPlugin : IPlugin
{
    Task<IImageSource> OpenAsync(PluginInvocation invocation, CancellationToken cancellationToken);
}

/// <summary>
/// An input that can describe an image more cheaply than it can open it for reading: a daemon answers
/// an inspect in milliseconds, where its save stream may have to be read through to reach the config.
/// <c>info</c> uses it. The image it gives need not have readable layers, and its <c>Config</c> may be
/// rebuilt from the description; <see cref="IImageSource.ConfigDigest"/> then names the real one.
/// </summary>
public interface IDescribingInputPlugin : IInputPlugin
{
    Task<IImageSource> DescribeAsync(PluginInvocation invocation, CancellationToken cancellationToken);
}

/// <summary>Creates a destination for one image from <c>scheme://target?options</c>.</summary>
public interface IOutputPlugin : IPlugin
{
    /// <param name="source">The image being written, so that the sink can name what it writes.</param>
    Task<IImageSink> CreateAsync(PluginInvocation invocation, ImageName source, CancellationToken cancellationToken);
}

/// <summary>Creates one filter instance for one <c>-f name:k=v,...</c> on the command line.</summary>
public interface IFilterPlugin : IPlugin
{
    IImageFilter Create(PluginInvocation invocation);
}

/// <summary>
/// An input or output that talks to registries: only such a plugin gets <see cref="PluginInvocation.Registry"/>,
/// the credentials and transport settings of the command line. Filters never get them, whatever they implement.
/// </summary>
public interface IRegistryPlugin : IPlugin
{
}

/// <summary>Declares an input plugin and the URI scheme it reads, e.g. <c>[InputPlugin("registry")]</c>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class InputPluginAttribute(string scheme) : Attribute
{
    public string Scheme { get; } = scheme;
}

/// <summary>Declares an output plugin and the URI scheme it writes, e.g. <c>[OutputPlugin("tar")]</c>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class OutputPluginAttribute(string scheme) : Attribute
{
    public string Scheme { get; } = scheme;
}

/// <summary>Declares a filter plugin and the name <c>-f</c> knows it by, e.g. <c>[FilterPlugin("set-owner")]</c>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class FilterPluginAttribute(string name) : Attribute
{
    public string Name { get; } = name;
}
